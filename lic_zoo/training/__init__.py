"""Training with Lightning: the MSP LightningModules, the image-folder data module, the CLI and export.

The codecs themselves (:mod:`lic_zoo.codec`) do not import Lightning; only this package does.
"""
from .callbacks import LatentOverfitting
from .data import DatasetError, ImageFolderDataModule
from .export import export_checkpoint
from .module import MSPBase, MSPExtra, MSPLightningModule, MSPLite

__all__ = [
    "DatasetError",
    "ImageFolderDataModule",
    "LatentOverfitting",
    "MSPBase",
    "MSPExtra",
    "MSPLightningModule",
    "MSPLite",
    "export_checkpoint",
]
