"""The claims report: the seed papers' questions answered from the warehouse as figures, each with its
data table, written as Markdown and as a standalone HTML page."""
