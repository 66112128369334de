"""Lightning modules: the SyncNet expert (``syncnet_module.py``) and the latent diffusion UNet (``unet_module.py``)."""
