"""An E(3)-equivariant message-passing network for crystals, one readout head per property.

The layer follows the tensor-field-network / NequIP recipe (Thomas et al. 2018, arXiv:1802.08219;
Batzner et al., Nat. Commun. 13, 2453, 2022) on e3nn 0.4.4 (Geiger & Smidt, arXiv:2207.09453):
node features are direct sums of irreducible representations of O(3) (``64x0e+32x1o+16x2e`` = 64
scalars, 32 vectors, 16 rank-2 tensors), messages are tensor products of neighbour features with
the spherical harmonics of the edge direction, weighted per edge by an MLP of the edge length.
Because every operation commutes with rotations, reflections and translations of the crystal and
with permutations of its atoms, and the readout pools only even scalars (``0e``) with a mean over
atoms, the predicted properties are invariant under all of these and under the choice of unit cell.

The same module serves Phase 2 (``multitask_e3nn``: several heads) and Phase 3
(``specialist_<property>``: one head, wider blocks). ``encode`` returns the per-crystal invariant
features the heads read; ``load_encoder`` copies a trained encoder's weights into this one
(warm start), which may add further blocks on top of it.

Graphs come from the shared graph store: ``edge_index`` row 0 is the receiving atom ``i``, row 1
its neighbour ``j``, ``edge_vec`` = r_j (periodic image) − r_i in Å.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from matassets.graphs.features import N_FEATURES, element_features
from matassets.graphs.store import GraphBatch
from matassets.models._e3nn import nn as enn
from matassets.models._e3nn import o3
from matassets.models.layers import copy_encoder, mean_pool

ENCODER_PREFIXES = ("features", "embed.", "basis.", "blocks.")


class BesselBasis(nn.Module):
    r"""Radial Bessel basis with a smooth polynomial cutoff (DimeNet: Gasteiger et al., ICLR 2020,
    Eqs. 7 and 8).

    .. math::
        e_n(d) = \sqrt{2 / c}\; \frac{\sin(n \pi d / c)}{d}\; u(d / c), \quad n = 1 \dots N, \qquad
        u(x) = 1 - \tfrac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \tfrac{p(p+1)}{2} x^{p+2}

    for :math:`x < 1` and :math:`u = 0` beyond the cutoff :math:`c`. :math:`u`, :math:`u'` and
    :math:`u''` vanish at :math:`d = c`, so an atom crossing the cutoff sphere changes nothing
    abruptly (which is what keeps a supercell and its primitive cell equal at the boundary).
    """

    def __init__(self, r_max: float, n_basis: int = 8, p: int = 6) -> None:
        super().__init__()
        self.r_max = float(r_max)
        self.p = p
        self.register_buffer("freq", torch.arange(1, n_basis + 1) * math.pi / self.r_max)

    @property
    def size(self) -> int:
        return self.freq.numel()

    def envelope(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p
        u = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        return u * (x < 1.0)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        d = d[:, None]
        bessel = math.sqrt(2.0 / self.r_max) * torch.sin(self.freq.to(d.dtype) * d) / d
        return bessel * self.envelope(d / self.r_max)


def _gate(irreps_out: o3.Irreps) -> enn.Gate:
    """The gated non-linearity producing ``irreps_out`` (Weiler et al., NeurIPS 2018).

    Even scalars pass through SiLU, odd scalars through tanh (an odd function keeps their parity);
    each l > 0 channel is multiplied by the sigmoid of one extra even scalar, its gate.
    """
    irreps_out = o3.Irreps(irreps_out)
    scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
    gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
    gates = o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps("")
    return enn.Gate(
        scalars,
        [F.silu if ir.p == 1 else torch.tanh for _, ir in scalars],
        gates,
        [torch.sigmoid] * len(gates),
        gated,
    )


class EquivariantConvolution(nn.Module):
    r"""One interaction block: equivariant convolution, gated non-linearity, residual.

    .. math::
        m_i = \frac{1}{\sqrt{\bar n}} \sum_{j \in \mathcal{N}(i)}
              \big(W_1 h_j\big) \otimes_{R(e(|\mathbf r_{ij}|))} Y(\hat{\mathbf r}_{ij}),
        \qquad
        h_i' = \mathrm{Gate}\big(W_2\, m_i\big) + W_s\, h_i

    :math:`h_i`: the irreps features of atom :math:`i`; :math:`Y`: real spherical harmonics
    :math:`l \le l_\max` of the edge direction; :math:`\otimes_R`: a channel-wise ("uvu") tensor
    product with one weight per (path, channel), given per edge by the radial MLP :math:`R` of the
    Bessel basis :math:`e` (no biases, so every weight vanishes at the cutoff); :math:`W_1, W_2,
    W_s`: equivariant linear maps (self-interaction: channel mixing inside each irrep type);
    :math:`W_s h_i` is the residual (self-connection); :math:`\bar n`: the typical neighbour count.
    Only paths landing on an irrep type the block outputs (or on a gate scalar) are kept.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        irreps_out: o3.Irreps,
        irreps_sh: o3.Irreps,
        n_basis: int,
        radial_hidden: int,
        num_neighbors: float,
    ) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.gate = _gate(irreps_out)
        self.irreps_out = self.gate.irreps_out
        self.norm = 1.0 / math.sqrt(num_neighbors)
        wanted = {ir for _, ir in self.gate.irreps_in}
        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        self.linear_in = o3.Linear(self.irreps_in, self.irreps_in)
        self.tp = o3.TensorProduct(
            self.irreps_in,
            irreps_sh,
            o3.Irreps(mid),
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        self.radial = enn.FullyConnectedNet(
            [n_basis, radial_hidden, radial_hidden, self.tp.weight_numel], F.silu
        )
        self.linear_out = o3.Linear(self.tp.irreps_out, self.gate.irreps_in)
        self.self_connection = o3.Linear(self.irreps_in, self.irreps_out)

    def forward(
        self, h: torch.Tensor, edge_index: torch.Tensor, sh: torch.Tensor, basis: torch.Tensor
    ) -> torch.Tensor:
        center, neighbor = edge_index
        messages = self.tp(self.linear_in(h)[neighbor], sh, self.radial(basis))
        summed = messages.new_zeros(h.shape[0], messages.shape[1]).index_add_(0, center, messages)
        return self.gate(self.linear_out(summed * self.norm)) + self.self_connection(h)


class E3nnMultitask(nn.Module):
    r"""Element embedding → interaction blocks → mean of the even scalars → one MLP per property.

    .. math::
        h_i^{(0)} = W_e\, f(Z_i), \qquad
        h^{(t+1)} = \mathrm{Block}_t\big(h^{(t)}\big), \qquad
        z_G = \frac{1}{|G|} \sum_{i \in G} h_i^{(T)}\big|_{0e}, \qquad
        \hat y_{G,k} = \mathrm{MLP}_k(z_G)

    :math:`f(Z)`: the fixed element descriptors shared with CGCNN; ``hidden_irreps`` gives each
    block's output irreps (one string per block, so a warm-started model can widen on top of a
    trained encoder). The heads see only :math:`z_G` = ``encode(batch)``.
    """

    def __init__(
        self,
        hidden_irreps: list[str],
        lmax: int,
        r_max: float,
        n_basis: int = 8,
        radial_hidden: int = 64,
        num_neighbors: float = 12.0,
        head_hidden: int = 64,
        n_out: int = 1,
        embed_dim: int | None = None,
    ) -> None:
        super().__init__()
        if not hidden_irreps:
            raise ValueError("hidden_irreps needs at least one block")
        first = o3.Irreps(hidden_irreps[0])
        embed_dim = embed_dim or sum(mul for mul, ir in first if ir == o3.Irrep("0e")) or 16
        self.register_buffer("features", torch.tensor(element_features()))  # a copy: the table is cached
        self.embed = nn.Linear(N_FEATURES, embed_dim)
        self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        self.basis = BesselBasis(r_max, n_basis)
        blocks, irreps = [], o3.Irreps(f"{embed_dim}x0e")
        for hidden in hidden_irreps:
            block = EquivariantConvolution(
                irreps, o3.Irreps(hidden), self.irreps_sh, n_basis, radial_hidden, num_neighbors
            )
            blocks.append(block)
            irreps = block.irreps_out
        self.blocks = nn.ModuleList(blocks)
        self.irreps_out = irreps
        scalar = torch.cat(
            [
                torch.arange(s.start, s.stop)
                for (_, ir), s in zip(irreps, irreps.slices(), strict=True)
                if ir == o3.Irrep("0e")
            ]
            or [torch.zeros(0, dtype=torch.long)]
        )
        if scalar.numel() == 0:
            raise ValueError(f"the last block's irreps {irreps} have no even scalars to read out")
        self.register_buffer("scalar_index", scalar, persistent=False)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(scalar.numel(), head_hidden), nn.SiLU(), nn.Linear(head_hidden, 1))
            for _ in range(n_out)
        )

    def node_features(self, batch: GraphBatch) -> torch.Tensor:
        """Equivariant per-atom features (``self.irreps_out``) after the last block."""
        dtype = self.embed.weight.dtype
        vec = batch.edge_vec.to(dtype)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        basis = self.basis(vec.norm(dim=1))
        h = self.embed(self.features[batch.z].to(dtype))
        for block in self.blocks:
            h = block(h, batch.edge_index, sh, basis)
        return h

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        """One invariant vector per crystal: the mean over its atoms of the even scalars."""
        h = self.node_features(batch)[:, self.scalar_index]
        return mean_pool(h, batch.batch, batch.num_graphs)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        z = self.encode(batch)
        return torch.cat([head(z) for head in self.heads], dim=1)

    def load_encoder(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Copy a trained encoder (embedding, radial basis and its blocks) into this model.

        ``state`` is another ``E3nnMultitask``'s ``state_dict``; its heads are ignored. Every
        encoder tensor of ``state`` must exist here with the same shape (this model may have more
        blocks on top). Returns the names of the tensors copied.
        """
        return copy_encoder(self, state, ENCODER_PREFIXES)


def architecture(preset, cutoff: float, max_neighbors: int, n_out: int) -> dict:
    """The ``architecture`` block (``config.json``) of a model trained from scratch.

    ``preset`` is an ``E3nnPreset``: ``n_layers`` blocks of ``irreps``; the radial cutoff is the
    graph cutoff and the neighbour normalisation the graph's neighbour count.
    """
    return {
        "family": "e3nn",
        "hidden_irreps": [preset.irreps] * preset.n_layers,
        "lmax": preset.lmax,
        "r_max": cutoff,
        "n_basis": preset.n_basis,
        "radial_hidden": preset.radial_hidden,
        "num_neighbors": float(max_neighbors),
        "head_hidden": preset.hidden,
        "n_out": n_out,
    }


def warm_architecture(encoder: dict, preset, n_out: int) -> dict:
    """A model whose first blocks are a trained encoder (its ``architecture`` block) and whose
    further ``max(1, preset.n_layers - encoder blocks)`` blocks use ``preset.irreps``."""
    if encoder.get("family") != "e3nn":
        raise ValueError(f"cannot warm-start an e3nn model from a {encoder.get('family')!r} model")
    base = list(encoder["hidden_irreps"])
    extra = max(1, preset.n_layers - len(base))
    keep = ("lmax", "r_max", "n_basis", "radial_hidden", "num_neighbors", "embed_dim")
    return {
        "family": "e3nn",
        **{k: encoder[k] for k in keep if k in encoder},
        "hidden_irreps": base + [preset.irreps] * extra,
        "head_hidden": preset.hidden,
        "n_out": n_out,
    }
