"""The video's starter: the data, the input pipelines, the CNN and the training steps in starter.py."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import plumbing
import starter


@pytest.fixture(scope="module")
def digits():
    return starter.load_dataset("digits")


def _arrays(split):
    """(images, labels) of a whole split as numpy arrays, in order."""
    images, labels = zip(*split.as_numpy_iterator(), strict=True)
    return np.stack(images), np.array(labels)


def test_digits_has_a_disjoint_held_out_test_split_and_its_class_names(digits):
    (train_images, _), (test_images, _) = _arrays(digits.train), _arrays(digits.test)
    train_keys = {image.tobytes() for image in train_images}
    test_keys = {image.tobytes() for image in test_images}
    assert len(test_keys) == len(test_images) > 0
    assert not train_keys & test_keys, "a test image also appears in the training split"
    assert digits.num_train + digits.num_test == 1797
    assert digits.class_names == tuple("0123456789")
    assert digits.image_shape == (8, 8, 1)
    assert not digits.flip, "left-right flips turn digits into other shapes"


def test_train_pipeline_gives_augmented_batches_in_the_unit_range(digits):
    images, labels = next(iter(starter.train_pipeline(digits, batch_size=32)))
    assert images.shape == (32, 8, 8, 1) and images.dtype == tf.float32
    assert labels.shape == (32,)
    assert float(tf.reduce_min(images)) >= 0.0 and float(tf.reduce_max(images)) <= 1.0


def test_test_pipeline_is_the_whole_test_split_in_order_and_unaugmented(digits):
    test_images, test_labels = _arrays(digits.test)
    batches = list(starter.test_pipeline(digits, batch_size=100))
    images = np.concatenate([batch[0].numpy() for batch in batches])
    labels = np.concatenate([batch[1].numpy() for batch in batches])
    np.testing.assert_array_equal(labels, test_labels)
    np.testing.assert_allclose(images, test_images / 255.0, atol=1e-6)


def test_quick_keeps_a_small_subset():
    dataset = starter.load_dataset("digits", quick=True, verbose=False)
    assert dataset.num_train == starter.QUICK_TRAIN_EXAMPLES
    assert sum(1 for _ in dataset.train) == starter.QUICK_TRAIN_EXAMPLES


def test_colour_augmentation_keeps_three_channels_and_makes_about_a_tenth_grayscale():
    augment = starter.make_augment(channels=3, flip=True)
    colourful = tf.tile(tf.constant([[[[0.9, 0.5, 0.1]]]]), [2000, 4, 4, 1])
    images, _ = augment(colourful, tf.zeros(2000))
    assert images.shape == (2000, 4, 4, 3)
    is_gray = np.all(
        np.isclose(images[..., 0], images[..., 1]) & np.isclose(images[..., 1], images[..., 2]), axis=(1, 2)
    )
    assert 0.05 < is_gray.mean() < 0.15, is_gray.mean()
    single, _ = augment(colourful[0], tf.zeros(()))
    assert single.shape == (4, 4, 3)


def test_flips_happen_only_where_the_dataset_allows_them():
    left_bright = tf.constant(np.tile([1.0, 0.0, 0.0, 0.0], (1000, 4, 1)).reshape(1000, 4, 4, 1) * 0.5, tf.float32)
    unflipped, _ = starter.make_augment(channels=1, flip=False)(left_bright, None)
    flipped, _ = starter.make_augment(channels=1, flip=True)(left_bright, None)
    assert np.all(np.argmax(unflipped[:, 0, :, 0], axis=1) == 0)
    share_flipped = np.mean(np.argmax(flipped[:, 0, :, 0], axis=1) == 3)
    assert 0.4 < share_flipped < 0.6


def test_the_same_seed_gives_the_same_augmentation_and_another_seed_another():
    augment = starter.make_augment(channels=3, flip=True)
    images = tf.random.stateless_uniform((64, 4, 4, 3), seed=(0, 0))
    first, _ = augment(images, None, seed=(1, 2))
    again, _ = augment(images, None, seed=(1, 2))
    other, _ = augment(images, None, seed=(1, 3))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def augmented_epochs(dataset, seed, epochs=2):
    """Every image of `epochs` passes over `dataset`'s training pipeline, built after seeding with `seed`."""
    keras.utils.set_random_seed(seed)
    batches = starter.train_pipeline(dataset, batch_size=16)
    return [np.concatenate([images.numpy() for images, _ in batches]) for _ in range(epochs)]


def test_train_pipeline_is_repeatable_with_a_seed_and_augments_afresh_every_epoch(digits):
    # 256 copies of one image: shuffling cannot change what the pipeline gives, only the augmentation can.
    image = next(iter(digits.train))[0]
    same_images = tf.data.Dataset.from_tensors((image, tf.constant(0, tf.int64))).repeat(256)
    dataset = dataclasses.replace(digits, train=same_images, num_train=256)
    first = augmented_epochs(dataset, seed=0)
    # The batches are augmented in parallel, in no fixed order: each must still get the same random draws.
    np.testing.assert_array_equal(first, augmented_epochs(dataset, seed=0))
    assert not np.array_equal(first[0], first[1]), "the second epoch repeated the first one's augmentation"
    assert not np.array_equal(first[0], augmented_epochs(dataset, seed=1)[0])


@pytest.mark.parametrize("jit_compile", [True, False])
def test_train_pipeline_augments_the_same_way_compiled_with_xla_or_not(jit_compile):
    # 2,048 copies of one colour image, bright in its left column: whatever the pipeline gives is the augmentation.
    image = np.full((4, 4, 3), 60, np.uint8)
    image[:, 0] = (200, 128, 26)  # Bright enough, and room for brightness to move by 0.1 without clipping.
    copies = tf.data.Dataset.from_tensors((image, tf.constant(0, tf.int64))).repeat(2048)
    dataset = starter.Dataset("cifar10", copies, None, starter.CIFAR10_CLASS_NAMES, (4, 4, 3), 2048, 0)
    keras.utils.set_random_seed(0)
    images = np.concatenate([batch.numpy() for batch, _ in starter.train_pipeline(dataset, 64, jit_compile)])
    assert images.shape == (2048, 4, 4, 3) and images.min() >= 0.0 and images.max() <= 1.0
    is_gray = np.all(np.isclose(images[..., 0], images[..., 1]) & np.isclose(images[..., 1], images[..., 2]), (1, 2))
    assert 0.07 < is_gray.mean() < 0.13, is_gray.mean()
    flipped = images[:, 0, 3].sum(axis=-1) > images[:, 0, 0].sum(axis=-1)
    assert 0.45 < flipped.mean() < 0.55, flipped.mean()
    # A colour image, flipped back, is the original shifted by one brightness change of at most 0.1.
    colour = images[~is_gray]
    colour[flipped[~is_gray]] = colour[flipped[~is_gray]][:, :, ::-1]
    shift = colour - image / 255.0
    assert np.allclose(shift, shift[:, :1, :1, :1], atol=1e-6) and np.abs(shift).max() <= 0.1 + 1e-6
    assert np.abs(shift[:, 0, 0, 0]).mean() > 0.04, "brightness hardly changed"


def test_every_pipeline_in_a_process_shares_one_traced_and_compiled_augmentation():
    # 06 builds a pipeline per trial: each would otherwise trace the function anew and XLA compile it again.
    # An image shape that no other test uses, so that the first of these pipelines is the one that traces.
    zeros = tf.data.Dataset.from_tensors((np.zeros((5, 5, 1), np.uint8), tf.constant(0, tf.int64))).repeat(64)
    dataset = starter.Dataset("digits", zeros, None, tuple("0123456789"), (5, 5, 1), 64, 0)
    traces = starter.normalize_and_augment.experimental_get_tracing_count()
    for batch_size in (32, 32, 16):
        next(iter(starter.train_pipeline(dataset, batch_size)))
    assert starter.normalize_and_augment.experimental_get_tracing_count() == traces + 1


def test_the_pipeline_augments_through_xla_unless_told_not_to():
    # XLA draws other random numbers than TensorFlow's own kernels from the same seeds: that tells the two apart.
    image = np.full((4, 4, 3), 60, np.uint8)
    copies = tf.data.Dataset.from_tensors((image, tf.constant(0, tf.int64))).repeat(256)
    dataset = starter.Dataset("cifar10", copies, None, starter.CIFAR10_CLASS_NAMES, (4, 4, 3), 256, 0)

    def epoch(jit_compile):
        keras.utils.set_random_seed(0)
        return np.concatenate([images.numpy() for images, _ in starter.train_pipeline(dataset, 64, jit_compile)])

    compiled = epoch(jit_compile=True)
    np.testing.assert_array_equal(compiled, epoch(jit_compile=True))
    assert not np.array_equal(compiled, epoch(jit_compile=False))


def test_cifar10_path_through_tfds_mock_data(monkeypatch):
    # mock_data stands in for a CIFAR-10 that tensorflow_datasets has prepared, so the offline probe says so too.
    monkeypatch.setattr(plumbing, "is_cached", lambda name: True)
    with tfds.testing.mock_data(num_examples=40):
        dataset = starter.load_dataset("cifar10")
        assert dataset.image_shape == (32, 32, 3)
        assert dataset.class_names[:2] == ("airplane", "automobile") and len(dataset.class_names) == 10
        assert dataset.flip
        images, labels = next(iter(starter.train_pipeline(dataset, batch_size=8)))
    assert images.shape == (8, 32, 32, 3)
    assert float(tf.reduce_min(images)) >= 0.0 and float(tf.reduce_max(images)) <= 1.0
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    assert model(images).shape == (8, 10)


def test_train_and_test_steps_learn_digits_and_report_epoch_means(digits):
    tf.keras.utils.set_random_seed(0)
    model = starter.build_cnn(digits.image_shape, 10)
    steps = starter.make_steps(model, tf.keras.optimizers.Adam(learning_rate=1e-3))
    for _ in range(3):
        for images, labels in starter.train_pipeline(digits, 64):
            steps.train_step(images, labels)
    predictions, true_labels, batch_losses = [], [], []
    loss_fn = starter.make_loss()
    for images, labels in starter.test_pipeline(digits, 64):
        probabilities = steps.test_step(images, labels).numpy()
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        predictions.append(probabilities.argmax(axis=1))
        true_labels.append(labels.numpy())
        batch_losses.append((float(loss_fn(labels, model(images))), len(labels)))
    accuracy = np.mean(np.concatenate(predictions) == np.concatenate(true_labels))
    assert accuracy == pytest.approx(float(steps.test_accuracy.result()), abs=1e-6)
    assert accuracy > 0.6, "three epochs on digits should be far above chance (0.1)"
    # The loss metric is the mean over examples, not the mean of batch means.
    example_mean = sum(loss * count for loss, count in batch_losses) / sum(count for _, count in batch_losses)
    assert float(steps.test_loss.result()) == pytest.approx(example_mean, rel=1e-4)
    # `metrics` are the four the steps update, to be reset between epochs.
    assert steps.metrics == (steps.train_loss, steps.train_accuracy, steps.test_loss, steps.test_accuracy)
    for metric in steps.metrics:
        metric.reset_state()
    assert float(steps.test_accuracy.result()) == 0.0 and float(steps.train_loss.result()) == 0.0


def test_build_cnn_names_its_embedding_layer_and_takes_size_and_dropout():
    model = starter.build_cnn((8, 8, 1), 10, units=32, dropout=0.3)
    assert model.get_layer("features").units == 32
    assert model.get_layer("features").output.shape == (None, 32)
    assert [layer.rate for layer in model.layers if hasattr(layer, "rate")] == [0.3]


def test_train_epoch_resets_the_metrics_trains_every_batch_and_leaves_the_epochs_means(digits, capsys):
    # A learning rate of 0 and no dropout keep the model fixed, so the epoch's means can be computed independently:
    # the loss and accuracy of the same model on every training image at once.
    model = starter.build_cnn(digits.image_shape, 10, dropout=0.0)
    steps = starter.make_steps(model, keras.optimizers.SGD(learning_rate=0.0))
    # The test pipeline: the training split would be augmented differently on every pass.
    batches = starter.test_pipeline(dataclasses.replace(digits, test=digits.train, num_test=digits.num_train), 64)
    images, labels = _arrays(digits.train)
    # Something left over from another epoch, which train_epoch must reset.
    steps.train_loss.update_state(100.0)
    steps.test_accuracy.update_state([1], [[0.0, 1.0]])

    starter.train_epoch(steps, batches, 1, 3)

    logits = model(images.astype(np.float32) / 255.0, training=True)
    expected_loss = float(starter.make_loss()(labels, logits))
    expected_accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
    assert float(steps.train_loss.result()) == pytest.approx(expected_loss, rel=1e-4)
    assert float(steps.train_accuracy.result()) == pytest.approx(expected_accuracy, abs=1e-6)
    assert float(steps.test_accuracy.result()) == 0.0, "the test metrics start the epoch empty"
    assert int(steps.train_accuracy.count) == digits.num_train, "every training image, once"
    output = capsys.readouterr().out
    assert output.startswith("Epoch 2/3\n")
    # The bar's last values are the epoch's means, as logged.
    assert f"loss: {expected_loss:.4f}" in output.replace("\b", "").splitlines()[-1]
