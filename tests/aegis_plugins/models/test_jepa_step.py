"""The JEPA training step computes the same loss and gradients however it is organised: given masks, against a
plain per-group reference written from the public pieces; with gradient checkpointing; with the masks it draws."""
import torch
import torch.nn.functional as F

from aegis.build import build_component
from aegis.registry import MODELS

ENCODER = dict(type="VJEPAEncoder", arch=None, embed_dim=32, depth=2, num_heads=2, patch_size=8, tubelet_size=2,
               num_frames=8, img_size=16)
MASKS = [dict(type="MultiBlock3DMaskGenerator", num_blocks=2, mask_ratio=None, spatial_scale=(0.3, 0.3)),
         dict(type="MultiBlock3DMaskGenerator", num_blocks=1, mask_ratio=None, spatial_scale=(0.6, 0.6))]


def _model(encoder=ENCODER, predictor_extra=None, weights=None):
    torch.manual_seed(0)
    predictor = dict(type="JEPAPredictor", embed_dim=16, depth=2, num_heads=2, **(predictor_extra or {}))
    return build_component(dict(
        type="JEPAPretrainer", encoder=encoder, predictor=predictor, mask_generators=MASKS, mask_group_weights=weights,
        losses=[dict(type="LatentReconstructionLoss"), dict(type="TemporalCausalityLoss", loss_weight=0.1)]), MODELS)


def _reference_loss(model, video, masks):
    """V-JEPA's loss written out group by group from the encoder, predictor and loss modules."""
    grid = tuple(model.encoder.grid_size)
    with torch.no_grad():
        target = model.target_encoder(video)
        target = F.layer_norm(target, (target.shape[-1],))
    weights = torch.tensor(model.mask_group_weights) / sum(model.mask_group_weights)
    total = video.new_zeros(())
    for index, (context_idx, target_idx) in enumerate(masks):
        pred = model.predictor(model.encoder(video, context_idx), context_idx, target_idx, mask_index=index)
        masked = torch.stack([t[i] for t, i in zip(target, target_idx)])  # (B, Kt, D)
        total = total + weights[index] * sum(loss(pred, masked, target_idx, grid) for loss in model.losses)
    return total


def _loss_and_grads(model, video, masks=None, reference=False):
    model.zero_grad(set_to_none=True)
    loss = _reference_loss(model, video, masks) if reference else sum(model.loss(video, masks).values())
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_same(a, b):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-5, atol=1e-6)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-4, atol=1e-6, msg=name)


def test_loss_and_gradients_equal_the_per_group_reference():
    model = _model(weights=[2.0, 1.0])
    model.train()
    video = torch.randn(3, 3, 8, 16, 16)
    masks = model.sample_masks(3, torch.Generator().manual_seed(1))
    assert masks[0][0].shape[1] != masks[1][0].shape[1]  # the groups keep different numbers of context tokens
    _assert_same(_loss_and_grads(model, video, masks), _loss_and_grads(model, video, masks, reference=True))


def test_sampled_masks_are_reproducible_and_are_what_loss_draws():
    model = _model()
    first = model.sample_masks(2, torch.Generator().manual_seed(3))
    again = model.sample_masks(2, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for pa, pb in zip(first, again) for a, b in zip(pa, pb))
    video = torch.randn(2, 3, 8, 16, 16)
    torch.manual_seed(5)
    drawn = model.loss(video)
    torch.manual_seed(5)
    given = model.loss(video, model.sample_masks(2))
    assert all(torch.equal(drawn[k], given[k]) for k in drawn)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    video = torch.randn(2, 3, 8, 16, 16)
    plain = _model()
    masks = plain.sample_masks(2, torch.Generator().manual_seed(0))
    checkpointed = _model(encoder=dict(ENCODER, gradient_checkpointing=True),
                          predictor_extra=dict(gradient_checkpointing=True))
    assert checkpointed.encoder.gradient_checkpointing and checkpointed.predictor.gradient_checkpointing
    _assert_same(_loss_and_grads(plain, video, masks), _loss_and_grads(checkpointed, video, masks))
    # what checkpointing is for: the blocks' activations are not kept for backward
    assert _saved_for_backward(checkpointed, video, masks) < 0.5 * _saved_for_backward(plain, video, masks)


def _saved_for_backward(model, video, masks) -> int:
    """Elements of the tensors autograd keeps for backward during one forward of the loss."""
    saved = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        sum(model.loss(video, masks).values())
    return sum(saved)
