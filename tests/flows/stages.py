"""Running the pipeline's stages in order, as far as a test module needs."""


def run_until(stage: str, config) -> list:
    """Every stage flow in pipeline order up to and including `stage`: what a module's checks need
    and no more (the whole pipeline is tested once, in test_finetune_flow)."""
    from flows.pipeline import STAGES

    names = list(STAGES)
    return [STAGES[name](config) for name in names[: names.index(stage) + 1]]
