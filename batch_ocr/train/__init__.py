"""Training data sources (synthetic printed lines, digit strings, labelled folders), training, export."""
