"""InstructGPT's step 3 and DPO: the SFT model aligned to a reward model, a rule or comparisons, held near
itself by a KL penalty, and scored against it."""
