"""The synthetic-data world of the Excel task: table topics, request phrasings, the example generator and the
hand-written check set. Inference (`excel ask`, evaluation) does not import it."""
