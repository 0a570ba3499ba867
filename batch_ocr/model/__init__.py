"""The SRN recogniser: layers, graph building and compiled greedy decoding."""
