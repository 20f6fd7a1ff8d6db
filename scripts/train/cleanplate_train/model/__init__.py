"""Network parts: encoder (MobileNetV2), ASPP, decoder, base network, refiner, and the patch contract helpers."""
from .base import BaseNet, BaseConfig
from .refiner import Refiner, RefinerConfig

__all__ = ['BaseNet', 'BaseConfig', 'Refiner', 'RefinerConfig']
