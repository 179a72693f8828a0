"""Training: the one loop (HF Trainer), the distillation losses, the data-parallel launch, augmentation."""
