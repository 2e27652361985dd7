"""The 3D viewer of the twin (pyvista): a live window, off-screen renders and a walkthrough.

- :mod:`viewer.scene`: a pure function from hall + state to named meshes, updated in place;
- :mod:`viewer.stage`: those meshes as actors on a plotter, with the HUD, labels and picking;
- :mod:`viewer.app`: the live window (`twin view`), fed by :class:`twin.bus.client.TwinClient`;
- :mod:`viewer.render`: off-screen PNGs and walkthrough frames (`twin render`);
- :mod:`viewer.cameras`, :mod:`viewer.hud`: camera presets and the walk; the HUD's text;
- :mod:`viewer.sources`: live twin, hall file, checkpoint or `twin run` folder (the offline views are
  :mod:`twin.bus.offline`'s);
- :mod:`viewer.bench`: frames per second and publication-to-frame latency (`python -m viewer.bench`).

The viewer sees the twin only through :mod:`twin.bus` (its client, or its offline view of a file) and
reads geometry through :mod:`twin.model` and :mod:`twin.geometry`; it never touches the solver.
"""
