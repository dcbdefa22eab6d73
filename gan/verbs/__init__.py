"""What users do with a trained run: draw samples, walks and truncated samples (``sampling``, ``walks``),
find the noise of a picture (``project``), predict from raw rows (``predict``)."""
