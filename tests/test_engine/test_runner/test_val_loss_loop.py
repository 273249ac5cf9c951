"""ValLossLoop: the validation loss equals the loss computed by hand over the val set with the same
masks; repeated validations score the same masks; validating leaves the training RNG alone."""
import torch
from mmengine.runner import Runner


def test_val_loss_matches_manual_average_and_is_repeatable(mae_run_cfg, tmp_path):
    runner = Runner.from_cfg(mae_run_cfg(work_dir=str(tmp_path / 'v')))
    model = runner.model
    torch.manual_seed(123)
    state = torch.get_rng_state()
    metrics = runner.val()
    assert torch.equal(torch.get_rng_state(), state)  # the training stream is untouched
    assert set(metrics) == {'val_loss'}
    assert runner.val()['val_loss'] == metrics['val_loss']  # same masks every validation

    # by hand: eval mode, the loop's seed, the loss mode, weighted by batch size
    model.eval()
    total, count = 0., 0
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for batch in runner.val_dataloader:
            data = model.data_preprocessor(batch, False)
            loss = model(**data, mode='loss')['loss']
            n = data['inputs'].shape[0]
            total, count = total + loss.item() * n, count + n
    assert count == len(runner.val_dataloader.dataset)
    assert abs(metrics['val_loss'] - total / count) < 1e-6

    # a different seed draws other masks, hence another loss
    runner.val_loop.seed = 1
    assert runner.val()['val_loss'] != metrics['val_loss']


def test_logged_val_loss_is_this_validations_value(mae_run_cfg, tmp_path):
    runner = Runner.from_cfg(mae_run_cfg(work_dir=str(tmp_path / 'w')))
    first = runner.val()['val_loss']
    runner.val_loop.seed = 5
    second = runner.val()['val_loss']
    buf = runner.message_hub.get_scalar('val/val_loss')
    assert list(buf.data[0]) == [second] != [first]  # no average with earlier validations


def test_distributed_padding_is_not_scored(mae_run_cfg, tmp_path):
    """Emulate the ranks of a 3-process validation one after another: mmengine's DefaultSampler
    pads the last ranks with repeats of the first samples; every sample must be scored exactly
    once, and the padded rank's last batch must score only its real samples."""
    import math
    runner = Runner.from_cfg(mae_run_cfg(work_dir=str(tmp_path / 'd')))
    loop, sampler = runner.val_loop, runner.val_dataloader.sampler
    num = len(sampler.dataset)
    world = 3
    assert num % world, 'the demo val set must not divide evenly for this test'
    scored = []  # (rank, batch size) the evaluator received
    process = loop.evaluator.process

    def record(data_samples, data_batch=None):
        scored.extend(s['batch_size'] for s in data_samples)
        return process(data_samples, data_batch)

    loop.evaluator.process = record
    sampler.world_size = world
    sampler.num_samples = math.ceil(num / world)
    sampler.total_size = sampler.num_samples * world
    per_rank = []
    for rank in range(world):
        sampler.rank = rank
        scored.clear()
        loop.run()
        per_rank.append(sum(scored))
    # by hand: rank r owns dataset indices r, r + world, ... < num
    assert per_rank == [len(range(r, num, world)) for r in range(world)]
    assert sum(per_rank) == num
