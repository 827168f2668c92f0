"""The classic MNIST convolutional network, shared by the MNIST-family jobs."""

import keras


def build_convnet(num_classes=10):
    """Build the network: two 5x5 conv layers (16 and 36 filters), dense 128, dense logits.

    Each conv layer uses ReLU, `same` padding and 2x2 max-pooling.
    """
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(2, padding="same"),
            keras.layers.Conv2D(36, 5, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(2, padding="same"),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu", name="dense1"),
            keras.layers.Dense(num_classes, name="logits"),
        ],
        name="convnet",
    )
