"""Unsupervised STDP learning of the spiking network's conv layers, layer by layer (naming spec §3).

* :mod:`.rule`: the learning rule's constants (:class:`StdpConfig`) and one presentation of an image;
* :mod:`.inputs`: the images as spike-time maps, and the events entering the learning layer;
* :mod:`.checkpoints`: the training state and its weights on disk;
* :mod:`.training`: :func:`train_stdp`, the loop over layers and presentations.

The compiled presentation kernel shares the integrate-and-fire step of the event-driven engine
(:mod:`..kernels`).
"""

from ..events import spikes_to_events, times_to_events
from .checkpoints import FORMAT, STATE_FILE, TrainingState, load_checkpoint, read_state, write_checkpoint
from .inputs import input_shape, layer_inputs, spike_time_maps
from .rule import StdpConfig, conv_spikes, present
from .training import Progress, presentation_order, train_stdp

__all__ = [
    "FORMAT", "STATE_FILE", "Progress", "StdpConfig", "TrainingState", "conv_spikes", "input_shape", "layer_inputs",
    "load_checkpoint", "present", "presentation_order", "read_state", "spike_time_maps", "spikes_to_events",
    "times_to_events", "train_stdp", "write_checkpoint",
]
