"""The long-context feed-forward codec (arXiv 2512.00877; its predecessor FCGS, arXiv 2410.08017).

Networks trained once code any trained scene in one pass, with no capture and no per-scene
training. Modules: serialise (Morton order, duplicates, windows, octree positions), exact
(bit-exact network arithmetic), models (positional embedding, geometry context model, attention
transform coder of the colour, division network, levels), coding (one window's ANS stream),
codec (the .smol bitstream, codec id "feedforward"), weights (the versioned weights file and its
manifest), train (the rate-distortion objective and the training job).
"""
