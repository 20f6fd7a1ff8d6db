"""cleanplate training package: BGMv2-style base + refiner networks, data synthesis, training and ONNX export.

Runs with Debian's /usr/bin/python3 (torch 1.13 CPU) and with torch 2.x + CUDA. See scripts/train/README.md.
"""
