"""Spiking deep CNN (Kheradpisheh et al. 2018): DoG latency encoding, integrate-and-fire layers, STDP."""
