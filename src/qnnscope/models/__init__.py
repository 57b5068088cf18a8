"""Models beyond plain circuits: dissipative QNNs, hybrid CNN → VQC classifiers (on a small CNN or
a frozen pretrained ResNet-18, ``resnet``) and their training."""
