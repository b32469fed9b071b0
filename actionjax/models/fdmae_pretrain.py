"""FD-MAE pre-training model (FD-MAE §II, Fig. 1): dual-path masked motion auto-encoder with the
scale-specific frequency reconstruction module and the losses of Eqs. 2-7.

Frames: a clip of data.num_frames = 2 T frames is split into its odd frames (1st, 3rd, ...; 0-based
indices 0, 2, ...) -> target path and even frames -> online path, each of T frames, so that the
encoder sees as many frames as at fine-tuning (pre-training configs set data.num_frames = 240 for
MAMP's 120-frame encoder; the pipeline's crop-resize then gives 240 frames before the split).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from actionjax.layers import dct, masking
from actionjax.models import registry
from actionjax.models.fdmae_encoder import (LN_EPS, Block, EncoderMixin, _embed_init, _xavier, looped_option,
                                            model_dims)
from actionjax.models.fdmae_sfr import SSFRM


def motion(x: jax.Array) -> jax.Array:
  """d(S) of Eq. 2: x[t+1] - x[t] along axis 1, the last step 0 (MAMP's motion target)."""
  d = x[:, 1:] - x[:, :-1]
  return jnp.concatenate([d, jnp.zeros_like(x[:, :1])], axis=1)


def patchify(x: jax.Array, t_patch: int) -> jax.Array:
  """(B', T, V, C) -> (B', T / t_patch, V, t_patch * C), values ordered (t, c) within a token."""
  b, t, v, c = x.shape
  return x.reshape(b, t // t_patch, t_patch, v, c).transpose(0, 1, 3, 2, 4).reshape(b, t // t_patch, v, -1)


def _token_mse(pred: jax.Array, target: jax.Array, masked: jax.Array) -> jax.Array:
  """Mean squared error per token, averaged over the masked tokens: (B', T_tok, V, K) -> (B',)."""
  err = ((pred.astype(jnp.float32) - target.astype(jnp.float32)) ** 2).mean(-1)
  w = masked.astype(jnp.float32)
  return (err * w).sum((1, 2)) / jnp.maximum(w.sum((1, 2)), 1.0)


def _mean(x: jax.Array, p: int = 2) -> jax.Array:
  """Per-row mean |x|^p over all but the first axis."""
  x = jnp.abs(x.astype(jnp.float32)) if p == 1 else x.astype(jnp.float32) ** 2
  return x.reshape(x.shape[0], -1).mean(-1)


@registry.register("fdmae_pretrain")
class FDMAEPretrain(EncoderMixin, nnx.Module):
  """Self-supervised FD-MAE. `__call__` returns {"loss", "loss_m", "loss_mc", "loss_mf"} per example.

  config.model keys (defaults = the paper's NTU-60 setting): dim, depth, num_heads, mlp_ratio,
  t_patch, decoder_dim, decoder_depth (3; Table VII), decoder_heads, mask_ratio (0.88; Table V),
  masking ('tube' | 'random'; Table IV MTM), tube_len (3 tokens; Table VI), dual_path (Table IV DP),
  freq_recon (Table IV FR), shared_mask, norm_target, freq_cutoff, eta1, eta2, sfr_dim, sfr_groups,
  attention (auto | looped | batched; see fdmae_encoder.Attention).
  """

  uses_ema = True  # the trainer passes `ema=` the EMA copy (Eq. 1) for the target path

  def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    m, d = config.model, config.data
    if d.num_frames % 2:
      raise ValueError(f"data.num_frames={d.num_frames} must be even: odd/even frames form two equal paths")
    self._init_encoder(config, d.num_frames // 2, m.get("drop_path", 0.0), rngs)
    g = lambda key, default: m.get(key, default)
    self.mask_ratio, self.tube_len = g("mask_ratio", 0.88), g("tube_len", 3)
    self.masking = g("masking", "tube")
    if self.masking not in ("tube", "random"):
      raise ValueError(f"model.masking={self.masking!r} is not one of tube, random")
    self.dual_path, self.freq_recon = g("dual_path", True), g("freq_recon", True)
    self.shared_mask, self.norm_target = g("shared_mask", True), g("norm_target", True)
    self.freq_cutoff, self.eta1, self.eta2 = g("freq_cutoff", 0.25), g("eta1", 1.0), g("eta2", 1.0)
    self.channels = d.channels
    dd, v = g("decoder_dim", 256), d.num_joints
    self.decoder_embed = nnx.Linear(self.dim, dd, kernel_init=_xavier, rngs=rngs)
    self.mask_token = nnx.Param(_embed_init(rngs.params(), (1, 1, dd)))
    self.decoder_pos_embed = nnx.Param(_embed_init(rngs.params(), (1, 1, v, dd)))
    self.decoder_temp_embed = nnx.Param(_embed_init(rngs.params(), (1, self.num_tokens_t, 1, dd)))
    looped, mlp_ratio = looped_option(config), model_dims(config)["mlp_ratio"]
    self.decoder_blocks = nnx.List([Block(dd, g("decoder_heads", 8), mlp_ratio, looped=looped, rngs=rngs)
                                    for _ in range(g("decoder_depth", 3))])
    self.decoder_norm = nnx.LayerNorm(dd, epsilon=LN_EPS, rngs=rngs)
    self.decoder_pred = nnx.Linear(dd, self.t_patch * d.channels, kernel_init=_xavier, rngs=rngs)  # phi
    if self.freq_recon:
      self.sfr = SSFRM(dd, g("sfr_dim", 64), g("sfr_groups", 8), self.t_patch, d.channels, rngs=rngs)

  def make_mask(self, key: jax.Array, batch: int) -> tuple[jax.Array, jax.Array]:
    """(keep_idx, masked) for `batch` sequences: multi-tube (§II-B) or MAE random masking."""
    if self.masking == "tube":
      return masking.tube_mask(key, batch, self.num_tokens_t, self.num_joints, self.mask_ratio, self.tube_len)
    return masking.random_mask(key, batch, self.num_tokens_t, self.num_joints, self.mask_ratio)

  def reconstruct(self, x: jax.Array, keep_idx: jax.Array, *, train: bool = False,
                  rngs: nnx.Rngs | None = None) -> dict:
    """One path: encode visible tokens, decode with mask tokens, unpatchify to S' (B', T_tok, V, D);
    phi(S') (B', T_tok, V, t_patch C) and, with freq_recon, SSFRM's (S_high, S_low)."""
    b = x.shape[0]
    lat = self.decoder_embed(self.encode(x, keep_idx, train=train, rngs=rngs))
    full = jnp.broadcast_to(self.mask_token[...].astype(lat.dtype), (b, self.num_tokens_t * self.num_joints,
                                                                    lat.shape[-1]))
    full = jax.vmap(lambda f, i, y: f.at[i].set(y))(full, keep_idx, lat)
    s = full.reshape(b, self.num_tokens_t, self.num_joints, -1)
    s = s + self.decoder_pos_embed[...].astype(s.dtype) + self.decoder_temp_embed[...].astype(s.dtype)
    s = s.reshape(b, -1, s.shape[-1])
    for block in self.decoder_blocks:
      s = block(s, train=train, rngs=rngs)
    s = self.decoder_norm(s).reshape(b, self.num_tokens_t, self.num_joints, -1)
    out = {"pred": self.decoder_pred(s)}
    if self.freq_recon:
      out["high"], out["low"] = self.sfr(s)
    return out

  def _targets(self, x: jax.Array, batch: int) -> dict:
    """Motion targets of one path: patchified d(S) for Eq. 2 (per-token normalised as MAMP when
    norm_target) and the DCT band targets of Eqs. 4-5 at the two SSFRM scales."""
    d = motion(x)
    tok = patchify(d, self.t_patch)
    if self.norm_target:
      mu, var = tok.mean(-1, keepdims=True), tok.var(-1, keepdims=True)
      tok = (tok - mu) / jnp.sqrt(var + 1e-6)
    out = {"motion": tok}
    if self.freq_recon:
      # The paper gives no scale for Eq. 6; dividing d(S) by its per-example RMS (over persons, frames,
      # joints, channels) makes L_mf O(1) like the normalised L_m, so eta2 means the same on every dataset.
      r = d.reshape(batch, -1)
      rms = jnp.sqrt((r.astype(jnp.float32) ** 2).mean(-1) + 1e-12)
      ds = d / jnp.repeat(rms, d.shape[0] // batch)[:, None, None, None].astype(d.dtype)
      high, low = dct.band_split(ds, self.freq_cutoff, axis=1)
      # The low band lives below the half-rate Nyquist (cut-off < 1/2), so averaging frame pairs
      # brings it to the low output's T / 2 steps with little loss.
      b, t, v, c = low.shape
      out["high"] = high
      out["low"] = low.reshape(b, t // 2, 2, v, c).mean(2)
    return jax.lax.stop_gradient(out)

  def __call__(self, inputs: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None,
               ema: "FDMAEPretrain | None" = None) -> dict:
    """inputs (B, M, 2T, V, C) -> per-example L (Eq. 7) and its terms L_m (Eq. 2), L_mc (Eq. 3),
    L_mf (Eq. 6). With train=False the masks come from a fixed key (deterministic evaluation)."""
    b, m, t2, v, c = inputs.shape
    x = inputs.reshape(b * m, t2, v, c)
    tar_x, on_x = x[:, 0::2], x[:, 1::2]
    key = rngs.mask() if (train and rngs is not None) else jax.random.key(0)
    k_on, k_tar = jax.random.split(key)
    keep, masked = self.make_mask(k_on, b * m)
    on = self.reconstruct(on_x, keep, train=train, rngs=rngs)
    on_t = self._targets(on_x, b)
    per_row = lambda v_: v_.reshape(b, m).mean(1)  # (B M,) -> (B,): persons weigh equally
    loss_m = _token_mse(on["pred"], on_t["motion"], masked)
    loss_mc = jnp.zeros_like(loss_m)
    loss_mf = jnp.zeros_like(loss_m)
    if self.freq_recon:
      loss_mf = _mean(on["high"] - on_t["high"], 1) + _mean(on["low"] - on_t["low"], 2)
    if self.dual_path:
      keep_t, masked_t = (keep, masked) if self.shared_mask else self.make_mask(k_tar, b * m)
      # Target path: the EMA model's modules (Eq. 1) on the odd frames, under sg(.) (Eqs. 2, 3, 6).
      # Without an EMA copy (first step, tests) the online model's own params stand in, also under sg.
      target_model = ema if ema is not None else self
      tar = jax.lax.stop_gradient(target_model.reconstruct(tar_x, keep_t, train=False))
      tar_t = self._targets(tar_x, b)
      loss_m = loss_m + _token_mse(tar["pred"], tar_t["motion"], masked_t)
      loss_mc = _token_mse(on["pred"], tar["pred"], masked & masked_t)
      if self.freq_recon:
        loss_mf = loss_mf + _mean(tar["high"] - tar_t["high"], 1) + _mean(tar["low"] - tar_t["low"], 2)
    loss_m, loss_mc, loss_mf = per_row(loss_m), per_row(loss_mc), per_row(loss_mf)
    loss = loss_m + self.eta1 * loss_mc + self.eta2 * loss_mf
    return {"loss": loss, "loss_m": loss_m, "loss_mc": loss_mc, "loss_mf": loss_mf}
