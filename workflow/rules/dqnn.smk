# DQNN training experiments (config key `dqnn_training`): rules are added here.


def dqnn_training_targets() -> list[str]:
    return []
