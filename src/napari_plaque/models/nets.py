"""Built-in architectures: an IVUS A-line detector and a 2D/3D U-Net.

Both are small enough to train on a CPU in tests and scale up through their hyperparameters
(``width``, ``base_channels``, ``levels``). They use BatchNorm (fixed statistics at inference), so
a sample's output never depends on the other samples in its batch.
"""

from __future__ import annotations

from typing import Any

from . import require_torch

torch = require_torch()
nn = torch.nn
F = torch.nn.functional


class _ALineBlock(nn.Module):
    """Conv over (A-line, depth): circular along A-lines, zero-padded along depth."""

    def __init__(self, c_in: int, c_out: int, k_aline: int = 3, k_depth: int = 7) -> None:
        super().__init__()
        self.pad_a = k_aline // 2
        self.conv = nn.Conv2d(c_in, c_out, (k_aline, k_depth), padding=(0, k_depth // 2))
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        if self.pad_a:
            x = F.pad(x, (0, 0, self.pad_a, self.pad_a), mode="circular")
        return F.relu(self.bn(self.conv(x)))


class ALineNet(nn.Module):
    """Per-A-line multi-label detector on polar IVUS frames with neighbouring-frame context.

    Input: ``(batch, 2 * context + 1, n_alines, depth_samples)`` floats in [0, 1] (the polar
    frame and its neighbours, grey / 255). Output: logits ``(batch, n_classes, n_alines)``.
    A depth-coordinate channel is added inside, so the net knows how deep an edge is.

    Parameters
    ----------
    n_classes : int
        Output classes (e.g. calcium, attenuation); independent sigmoids (multi-label).
    context : int
        Neighbouring frames on each side fed as extra channels.
    width : int
        Channels of the first block (doubled once).
    n_blocks : int
        Conv blocks along depth, each followed by a 2x depth pooling.
    k_smooth : int
        Kernel (A-lines) of the final circular 1D convolutions across A-lines.
    """

    def __init__(
        self,
        n_classes: int = 2,
        context: int = 1,
        width: int = 16,
        n_blocks: int = 3,
        k_smooth: int = 9,
    ) -> None:
        super().__init__()
        self.hparams = {
            "n_classes": n_classes,
            "context": context,
            "width": width,
            "n_blocks": n_blocks,
            "k_smooth": k_smooth,
        }
        c_in = 2 * context + 1 + 1  # frames + depth coordinate
        blocks = []
        c = c_in
        for i in range(n_blocks):
            c_out = width if i == 0 else 2 * width
            blocks.append(_ALineBlock(c, c_out))
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        self.k_smooth = k_smooth
        self.head1 = nn.Conv1d(2 * c, 2 * width, k_smooth)
        self.head_bn = nn.BatchNorm1d(2 * width)
        self.head2 = nn.Conv1d(2 * width, n_classes, 1)

    def forward(self, x):
        b, _, a, d = x.shape
        depth = torch.linspace(0.0, 1.0, d, device=x.device, dtype=x.dtype)
        x = torch.cat([x, depth.expand(b, 1, a, d)], dim=1)
        for blk in self.blocks:
            x = F.max_pool2d(blk(x), (1, 2), ceil_mode=True)
        feats = torch.cat([x.mean(dim=3), x.amax(dim=3)], dim=1)  # (b, 2c, a)
        p = self.k_smooth // 2
        feats = F.pad(feats, (p, p), mode="circular")
        h = F.relu(self.head_bn(self.head1(feats)))
        return self.head2(h)


def _conv(dims: int):
    return nn.Conv3d if dims == 3 else nn.Conv2d


def _bn(dims: int):
    return nn.BatchNorm3d if dims == 3 else nn.BatchNorm2d


class _DoubleConv(nn.Module):
    def __init__(self, dims: int, c_in: int, c_out: int) -> None:
        super().__init__()
        conv, bn = _conv(dims), _bn(dims)
        self.net = nn.Sequential(
            conv(c_in, c_out, 3, padding=1),
            bn(c_out),
            nn.ReLU(inplace=True),
            conv(c_out, c_out, 3, padding=1),
            bn(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.net(x)


class UNet(nn.Module):
    """A plain 2D or 3D U-Net (two 3x3 convs per level, max-pool down, transposed conv up).

    Input ``(batch, in_channels, [z,] y, x)`` with each spatial size divisible by
    ``2 ** (levels - 1)``; output logits ``(batch, n_classes, [z,] y, x)`` (class 0 is
    background, softmax over classes).

    Parameters
    ----------
    dims : {2, 3}
        2D (slice by slice) or 3D convolutions.
    n_classes : int
        Output classes including background.
    in_channels : int
        Input channels (1 for CT).
    base_channels : int
        Channels at full resolution; doubled at each level.
    levels : int
        Resolution levels (``levels - 1`` poolings).
    """

    def __init__(
        self,
        dims: int = 3,
        n_classes: int = 2,
        in_channels: int = 1,
        base_channels: int = 8,
        levels: int = 3,
    ) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"UNet dims must be 2 or 3, got {dims}")
        if levels < 1:
            raise ValueError("UNet needs at least one level")
        self.hparams = {
            "dims": dims,
            "n_classes": n_classes,
            "in_channels": in_channels,
            "base_channels": base_channels,
            "levels": levels,
        }
        self.dims = dims
        chans = [base_channels * 2**i for i in range(levels)]
        self.down = nn.ModuleList()
        c = in_channels
        for ch in chans:
            self.down.append(_DoubleConv(dims, c, ch))
            c = ch
        up_cls = nn.ConvTranspose3d if dims == 3 else nn.ConvTranspose2d
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for ch in reversed(chans[:-1]):
            self.ups.append(up_cls(c, ch, 2, stride=2))
            self.up_convs.append(_DoubleConv(dims, 2 * ch, ch))
            c = ch
        self.head = _conv(dims)(c, n_classes, 1)

    @property
    def divisor(self) -> int:
        """Spatial sizes must be multiples of this."""
        return 2 ** (self.hparams["levels"] - 1)

    @property
    def context_margin(self) -> int:
        """Voxels of context (each side) that make a tile's centre independent of its border.

        Half the receptive field (two 3x3 convs per level, 2x2 pooling, 2x2 transposed convs)
        plus one pooling period, rounded up to a multiple of :attr:`divisor`: the output more
        than this far from a tile edge equals the output on the whole (padded) volume.
        """
        levels = self.hparams["levels"]
        size, jump = 1, 1
        for level in range(levels):
            size += 4 * jump
            if level < levels - 1:
                size += jump
                jump *= 2
        for _ in range(levels - 1):
            jump //= 2
            size += 4 * jump
        div = self.divisor
        return int(-(-(size // 2 + 1 + div) // div) * div)

    def forward(self, x):
        pool = F.max_pool3d if self.dims == 3 else F.max_pool2d
        skips = []
        for i, blk in enumerate(self.down):
            x = blk(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = pool(x, 2)
        for up, conv, skip in zip(self.ups, self.up_convs, reversed(skips), strict=True):
            x = conv(torch.cat([up(x), skip], dim=1))
        return self.head(x)


ARCHITECTURES = {"ALineNet": ALineNet, "UNet": UNet}


def build_model(architecture: str, hparams: dict[str, Any]) -> Any:
    """Instantiate a built-in architecture by name with its hyperparameters."""
    from .registry import task_of_architecture

    cls = ARCHITECTURES.get(architecture)
    if cls is None:  # a network of a task another package registered (e.g. the CXR model)
        task = task_of_architecture(architecture)
        if task is None:
            raise ValueError(
                f"unknown architecture {architecture!r}; known: {sorted(ARCHITECTURES)}"
            )
        cls = task.network()
    return cls(**hparams)
