"""Training data: real sources, procedural garments and studio scenes, composition and perturbation."""
