"""Training: masked-language-model pretraining (issue 5) and contrastive embedding training (issue 6)."""
