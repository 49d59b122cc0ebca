"""Cue-based attention: does the concept neuron select what to recall from a mixed input?"""
