"""The inside of the process engine: its state (families of immutable values, derived indexes,
snapshots), the step machine that moves element instances through Zeebe's lifecycle, and the
behaviour of each BPMN element. :class:`trio_zeebe.engine.engine.Engine` is the way in."""
