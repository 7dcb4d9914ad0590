"""Stream processing: committed records applied to a partition's state machine."""
