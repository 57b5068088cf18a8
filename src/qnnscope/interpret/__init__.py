"""Explanations of hybrid CNN → VQC classifiers and measures of how faithful they are."""

from qnnscope.interpret.cam import Cam, gradcam, qgradcam, random_maps, upsample
from qnnscope.interpret.discriminative import class_maps, discrimination_score, pair_correlations
from qnnscope.interpret.embeddings import backbone_stages, layer_activations, tsne, umap, whitening
from qnnscope.interpret.faithfulness import (
    Background,
    Curve,
    Randomisation,
    Scored,
    background_evidence,
    deletion,
    energy_share,
    insertion,
    pointing_game,
    randomisation_check,
    rank_correlation,
    summarise,
)
from qnnscope.interpret.saliency import Guided, gradient_saliency, guided_backprop, input_gradient, smoothgrad
from qnnscope.interpret.scores import SCORES, class_score

__all__ = [
    "SCORES", "Background", "Cam", "Curve", "Guided", "Randomisation", "Scored", "backbone_stages",
    "background_evidence", "class_maps", "class_score", "deletion", "discrimination_score", "energy_share",
    "gradcam", "gradient_saliency", "guided_backprop", "input_gradient", "insertion", "layer_activations", "pair_correlations",
    "pointing_game", "qgradcam", "random_maps", "randomisation_check", "rank_correlation", "smoothgrad",
    "summarise", "tsne", "umap", "upsample", "whitening",
]
