"""Ready-made experiments: the Learn page's lessons and grouped runs (AE vs VAE, beta sweeps).

Pure data and config builders: the pages decide how to show them, the job manager runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aevae_core.config import TrainConfig


def pair_configs(base: TrainConfig, betas: tuple[float, ...] = ()) -> list[TrainConfig]:
    """An AE and a VAE (and a beta-VAE per extra beta) with identical data, architecture,
    latent dimension, seed and epochs: only the model (and beta) differ."""
    shared = base.replace(noise=0.0, l1_code=0.0, kl_warmup=0)
    configs = [shared.replace(model="ae", beta=1.0), shared.replace(model="vae", beta=1.0)]
    configs += [shared.replace(model="vae", beta=float(b)) for b in betas if float(b) != 1.0]
    return configs


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    text: str  # markdown, a few sentences for a student
    look_for: str  # what to look at once it has trained
    page: str  # where the experiment opens
    configs: tuple[TrainConfig, ...] = ()  # queued as a group (Compare) ...
    preset: dict[str, Any] = field(default_factory=dict)  # ... or filled into the Train form

    @property
    def action(self) -> str:
        return "queue" if self.configs else "preset"


# A 2-D digits model that learns a real latent structure in seconds on a laptop CPU. With
# fewer updates a 2-D VAE stays (nearly) collapsed: batch 128 for 10 epochs ends at a KL of
# 0.04 nats/image. This one, seeds 0-2: 2.2-2.4 nats/image, 2 of 2 active units, ~1 s of
# training (4 s with the CLI's start-up).
DIGITS_2D = TrainConfig(dataset="digits", latent_dim=2, batch_size=32, epochs=20)
QUICK_START = DIGITS_2D.replace(model="vae", beta=1.0)  # Home's one-click run

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        key="ae_vs_vae",
        title="AE vs VAE: holes in the latent space",
        text="Both squeeze digits into 2 numbers. The AE only has to rebuild its training "
        "images, so it may scatter codes anywhere; the VAE's KL term pulls them towards "
        "N(0, I), which fills the space.",
        look_for="Compare the two latent scatters and the samples from the prior: the AE's "
        "samples land in empty regions and look broken, the VAE's look like digits.",
        page="pages/compare.py",
        configs=tuple(pair_configs(DIGITS_2D)),
    ),
    Lesson(
        key="beta",
        title="β: the reconstruction–KL trade-off",
        text="β weights the KL term. Small β: sharp reconstructions, a messy latent space. "
        "Large β: a tidy, Gaussian latent space, blurry reconstructions.",
        look_for="On the rate–distortion plot each run is a point: as β grows the KL (rate) "
        "falls and the reconstruction error (distortion) rises.",
        page="pages/compare.py",
        configs=tuple(pair_configs(DIGITS_2D.replace(latent_dim=8), betas=(0.25, 4.0)))[1:],
    ),
    Lesson(
        key="collapse",
        title="Posterior collapse",
        text="With a very large β the cheapest solution is to ignore the input: q(z|x) "
        "equals the prior, the KL is 0 and every image decodes to the same average blur.",
        look_for="The KL per dimension drops to zero, no unit stays active, and the pages "
        "warn that the posterior has collapsed.",
        page="pages/train.py",
        preset={"kind": "beta-VAE", "beta_beta-VAE": 50.0, "latent_dim": 8, "dataset": "digits"},
    ),
    Lesson(
        key="denoising",
        title="Denoising",
        text="A denoising AE sees corrupted images but must rebuild the clean ones, so it "
        "learns what digits look like rather than copying pixels.",
        look_for="On Reconstructions, raise the noise slider: compare this model with a plain "
        "AE on the same noisy inputs.",
        page="pages/train.py",
        preset={"kind": "Denoising AE", "noise": 0.5, "latent_dim": 16, "dataset": "digits"},
    ),
    Lesson(
        key="anomaly",
        title="Anomaly detection by reconstruction error",
        text="A model rebuilds well what resembles its training data. Images it rebuilds "
        "badly are unusual: a threshold on the error flags anomalies.",
        look_for="On Reconstructions, the anomaly view: validation errors vs corrupted or "
        "foreign images, with precision, recall and ROC AUC for your threshold.",
        page="pages/train.py",
        preset={"kind": "AE", "latent_dim": 8, "dataset": "digits"},
    ),
    Lesson(
        key="compression",
        title="Compression: code size vs quality",
        text="The code is a compressed image. Fewer latent numbers save bytes but lose "
        "detail. Train AEs with codes of 2, 8 and 32 numbers.",
        look_for="Compare the reconstructions and the MSE per pixel: quality rises with the "
        "code size, with diminishing returns.",
        page="pages/compare.py",
        configs=tuple(DIGITS_2D.replace(model="ae", latent_dim=d) for d in (2, 8, 32)),
    ),
)
