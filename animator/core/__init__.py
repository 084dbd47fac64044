"""The shared vocabulary of the animator: errors, file outputs, and (as the layout grows) the
types, units and geometry every stage, source and sink speaks. Standard library and numpy only."""
