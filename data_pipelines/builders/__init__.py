"""TFDS builders (`tfds build <name> --imports data_pipelines.builders --manual_dir DIR`)."""
from data_pipelines.builders.skeleton import KineticsSkeleton, Ntu60, Ntu120, Nwucla

__all__ = ["KineticsSkeleton", "Ntu60", "Ntu120", "Nwucla"]
