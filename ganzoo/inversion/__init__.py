"""GAN inversion: real images into a run's latent space (``ganzoo project``), and trainable inverters
(``ganzoo encoder train``). The methods themselves are ``Inverter`` plugins; this part opens the run for them,
prepares the images as training did, and writes what they find.

- ``runview``: a run directory as an ``InversionRun`` (generator, discriminator features, real data)
- ``inputs``: image files found and prepared exactly as the run's training images
- ``project``: inverting in batches, regenerating, scoring (PSNR, feature distance) and writing the folder
"""
