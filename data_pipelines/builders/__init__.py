"""TFDS builders (`tfds build <name> --imports data_pipelines.builders --manual_dir DIR`)."""
from data_pipelines.builders.skeleton import KineticsSkeleton, Ntu60, Ntu120, Nwucla
from data_pipelines.builders.video import Isogd, Ntu60Video, Ntu120Video, VideoConfig

__all__ = ["Isogd", "KineticsSkeleton", "Ntu60", "Ntu60Video", "Ntu120", "Ntu120Video", "Nwucla",
           "VideoConfig"]
