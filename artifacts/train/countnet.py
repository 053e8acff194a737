"""RuView's CountNet (cog-person-count) in PyTorch, and its ONNX export as countscope reads it.

Shared by artifacts/train/train.py (the trained model) and tests/fixtures/make_fixtures.py (test fixtures).
"""
import onnx
import torch
from torch import nn

N_SC, T, N_CLASSES = 56, 20, 8


class Encoder(nn.Module):
    def __init__(self, n_sc):
        super().__init__()
        self.c1 = nn.Conv1d(n_sc, 64, 3, dilation=1, padding=1)
        self.c2 = nn.Conv1d(64, 128, 3, dilation=2, padding=2)
        self.c3 = nn.Conv1d(128, 128, 3, dilation=4, padding=4)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.relu(self.c2(x))
        x = torch.relu(self.c3(x))
        return x.mean(dim=2)


class Head(nn.Module):
    def __init__(self, hidden, out):
        super().__init__()
        self.fc1 = nn.Linear(128, hidden)
        self.fc2 = nn.Linear(hidden, out)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class CountNet(nn.Module):
    """RuView's cog-person-count CountNet (97,737 parameters for 56 subcarriers)."""

    def __init__(self, n_sc=N_SC):
        super().__init__()
        self.enc = Encoder(n_sc)
        self.count_head = Head(64, N_CLASSES)
        self.conf_head = Head(32, 1)

    def forward(self, csi_window):
        z = self.enc(csi_window)
        return self.count_head(z), self.conf_head(z)


def export(model, path, n_sc=N_SC, external=False, metadata=None):
    """Opset-18 ONNX with RuView's names (csi_window -> count_logits, conf_logits) and a symbolic batch.

    `external=True` writes the weights to `<path>.data` as PyTorch's dynamo exporter does by default;
    `metadata` becomes ONNX metadata_props (countscope.temperature, countscope.norm_mean, ...).
    """
    model.eval()
    example = torch.zeros(2, n_sc, T)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    prog = torch.onnx.export(
        model,
        (example,),
        dynamo=True,
        input_names=["csi_window"],
        output_names=["count_logits", "conf_logits"],
        dynamic_shapes={"csi_window": {0: batch}},
        opset_version=18,
    )
    prog.save(path, external_data=external)
    # The exporter annotates every node with Python stack traces holding absolute paths of this checkout:
    # drop them, so the file depends only on the weights (and the same on every machine).
    m = onnx.load(path, load_external_data=False)
    for node in m.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for k, v in (metadata or {}).items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(m, path)
