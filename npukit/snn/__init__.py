"""The reference spiking runtime: neuron step functions, input encoders, simulators."""
