"""Coding: the model's predictions turned into bytes and back, exactly, on any machine.

- :mod:`.entropy_coding`: ANS coding of the quantised latent with the model's quantised tables;
- :mod:`.bitstream`: the ``.lic`` container (header, substreams, checksum) and its size limits;
- :mod:`.digest`: the weights digest a stream carries, so that it is decoded only with those weights.
"""
