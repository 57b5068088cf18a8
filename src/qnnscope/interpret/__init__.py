"""Explanations of hybrid CNN → VQC classifiers and measures of how faithful they are."""

from qnnscope.interpret.cam import Cam, gradcam, qgradcam, random_maps, upsample
from qnnscope.interpret.embeddings import layer_activations, tsne, whitening
from qnnscope.interpret.faithfulness import (
    Curve,
    Randomisation,
    deletion,
    energy_share,
    insertion,
    pointing_game,
    randomisation_check,
    rank_correlation,
)
from qnnscope.interpret.saliency import gradient_saliency, smoothgrad

__all__ = [
    "Cam", "Curve", "Randomisation", "deletion", "energy_share", "gradcam",
    "gradient_saliency", "insertion", "layer_activations", "pointing_game", "qgradcam", "random_maps",
    "randomisation_check", "rank_correlation", "smoothgrad", "tsne", "upsample", "whitening",
]
