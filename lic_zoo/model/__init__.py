"""The network: what turns pixels into a latent, predicts its probabilities and turns it back into pixels.

- :mod:`.transforms`: analysis and synthesis transforms (image <-> latent);
- :mod:`.context`, :mod:`.msp`: the multi-scale progressive probability model and its context network;
- :mod:`.entropy_models`: Gaussian and factorised densities, the portable functions that coding relies on;
- :mod:`.rate`: the lambda ladder of each metric and the gain units of variable-rate codecs;
- :mod:`.profiles`: the architecture of each profile (``lite``, ``base``, ``extra``), one line each;
- :mod:`.tiling`: the transforms over tiles, for large images;
- :mod:`.losses`: the rate-distortion loss.

:class:`lic_zoo.MSPCodec` (``lic_zoo/codec.py``) puts these together with :mod:`lic_zoo.coding`.
"""
