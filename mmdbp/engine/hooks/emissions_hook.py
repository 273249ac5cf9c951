"""``EmissionsHook``: energy and carbon of a training run, measured with codecarbon.

DBP-MAE reports its CO2 saving (-21.4%) next to its time saving; this hook measures both the way
codecarbon does (RAPL / NVML power counters where readable, otherwise codecarbon's TDP x load
estimate) with its offline tracker (no network: the carbon intensity comes from the country /
region in the config). It runs on rank 0 only and measures the whole machine by default
(``tracking_mode='machine'``), which covers all GPUs of a single-node DDP run; multi-node runs
count node 0 only.

Outputs:

* every ``interval`` iterations an INFO log line (``Emissions: ... kWh, ... kg CO2eq``), the
  values in the visualizer (``energy_kwh``, ``emissions_kg``) and in the message hub's runtime
  info (``emissions/energy_kwh``, ``emissions/emissions_kg``);
* ``<work_dir>/emissions.json``: a summary (energy by component, CO2, duration, hardware,
  country), rewritten at every log so a crash loses at most one interval; codecarbon's own
  ``emissions.csv`` in the same directory.

Totals continue across ``--resume`` (saved in checkpoints). If codecarbon is missing or fails
(e.g. no readable power counters and no fallback), training continues with a warning.
"""
import json
import logging
import os
import os.path as osp
import time
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmdbp.registry import HOOKS


@HOOKS.register_module()
class EmissionsHook(Hook):
    """Track energy (kWh) and emissions (kg CO2eq) of training with codecarbon.

    Args:
        country_iso_code (str): 3-letter ISO code of the country (carbon intensity), e.g.
            ``'USA'``, ``'NLD'``, ``'FRA'``. Defaults to ``'USA'``.
        region (str, optional): US state / Canadian province for a finer intensity.
        interval (int): Iterations between logs and JSON updates. Defaults to 50.
        measure_power_secs (float): codecarbon's power sampling period. Defaults to 15.
        tracking_mode (str): ``'machine'`` or ``'process'``. Defaults to ``'machine'``.
        out_file (str): Summary file name in the work dir. Defaults to ``'emissions.json'``.
        tracker_kwargs (dict, optional): More ``OfflineEmissionsTracker`` arguments (e.g.
            ``pue``, ``force_cpu_power``, ``gpu_ids``).
    """
    priority = 'VERY_LOW'

    def __init__(self, country_iso_code: str = 'USA', region: Optional[str] = None,
                 interval: int = 50, measure_power_secs: float = 15., tracking_mode: str = 'machine',
                 out_file: str = 'emissions.json', tracker_kwargs: Optional[dict] = None) -> None:
        if not (isinstance(country_iso_code, str) and len(country_iso_code) == 3):
            raise ValueError(f'EmissionsHook: country_iso_code must be a 3-letter ISO code such as '
                             f'"USA" or "NLD", got {country_iso_code!r}.')
        if tracking_mode not in ('machine', 'process'):
            raise ValueError(f'EmissionsHook: tracking_mode must be "machine" or "process", got '
                             f'{tracking_mode!r}.')
        if interval < 1:
            raise ValueError(f'EmissionsHook: interval must be >= 1, got {interval}.')
        self.country_iso_code = country_iso_code.upper()
        self.region = region
        self.interval = interval
        self.measure_power_secs = measure_power_secs
        self.tracking_mode = tracking_mode
        self.out_file = out_file
        self.tracker_kwargs = dict(tracker_kwargs or {})
        self.tracker = None
        self.failed_reason: Optional[str] = None
        self._offset = dict(energy_kwh=0., emissions_kg=0., duration_s=0.)  # earlier sessions
        self._final: Optional[dict] = None

    # -- tracker ------------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        if not is_main_process():
            return
        try:
            from codecarbon import OfflineEmissionsTracker
            kwargs = dict(country_iso_code=self.country_iso_code, output_dir=runner.work_dir,
                          measure_power_secs=self.measure_power_secs,
                          tracking_mode=self.tracking_mode, log_level='error',
                          project_name=osp.basename(osp.normpath(runner.work_dir)),
                          allow_multiple_runs=True)
            if self.region is not None:
                kwargs['region'] = self.region
            kwargs.update(self.tracker_kwargs)
            tracker = OfflineEmissionsTracker(**kwargs)
            tracker.start()
            if getattr(tracker, '_start_time', None) is None:
                raise RuntimeError('the tracker did not start (see codecarbon\'s log)')
            self.tracker = tracker
            self._final = None
        except Exception as e:  # codecarbon missing, no power counters, bad country, ...
            self.tracker = None
            self.failed_reason = f'{type(e).__name__}: {e}'
            print_log(f'EmissionsHook: codecarbon could not start ({self.failed_reason}); '
                      'training continues without energy/CO2 accounting.', logger='current',
                      level=logging.WARNING)

    def current_totals(self) -> Optional[dict]:
        """Energy (kWh), emissions (kg) and duration (s) so far, including earlier sessions of
        a resumed run; None when not tracking (or on ranks other than 0)."""
        if self._final is not None:
            return dict(self._final)
        if self.tracker is None:
            return None
        try:
            self.tracker._measure_power_and_energy_if_stale()
            data = self.tracker._prepare_emissions_data()
        except Exception as e:
            self._disable(e)
            return None
        return self._with_offset(data)

    def _with_offset(self, data) -> dict:
        return dict(energy_kwh=self._offset['energy_kwh'] + float(data.energy_consumed),
                    emissions_kg=self._offset['emissions_kg'] + float(data.emissions),
                    duration_s=self._offset['duration_s'] + float(data.duration),
                    cpu_energy_kwh=float(data.cpu_energy), gpu_energy_kwh=float(data.gpu_energy),
                    ram_energy_kwh=float(data.ram_energy), cpu_model=data.cpu_model,
                    gpu_model=data.gpu_model, country_iso_code=data.country_iso_code,
                    region=data.region, tracking_mode=data.tracking_mode,
                    codecarbon_version=data.codecarbon_version)

    def _disable(self, e: Exception) -> None:
        self.failed_reason = f'{type(e).__name__}: {e}'
        print_log(f'EmissionsHook: reading codecarbon failed ({self.failed_reason}); energy/CO2 '
                  'accounting stops, training continues.', logger='current', level=logging.WARNING)
        try:
            self.tracker.stop()
        except Exception:
            pass
        self.tracker = None

    # -- logging ------------------------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.tracker is None or not self.every_n_train_iters(runner, self.interval):
            return
        self._log(runner, self.current_totals())

    def _log(self, runner, totals: Optional[dict]) -> None:
        if totals is None:
            return
        runner.message_hub.update_info('emissions/energy_kwh', totals['energy_kwh'])
        runner.message_hub.update_info('emissions/emissions_kg', totals['emissions_kg'])
        runner.visualizer.add_scalars(dict(energy_kwh=totals['energy_kwh'],
                                           emissions_kg=totals['emissions_kg']), step=runner.iter)
        print_log(f'Emissions: {totals["energy_kwh"]:.6g} kWh, {totals["emissions_kg"]:.6g} kg '
                  f'CO2eq after {totals["duration_s"]:.0f} s ({self.country_iso_code}).',
                  logger='current')
        self._dump(runner, totals, finished=False)

    def _dump(self, runner, totals: Optional[dict], finished: bool) -> None:
        summary = dict(finished=finished, iter=runner.iter,
                       time=time.strftime('%Y-%m-%d %H:%M:%S'), failed_reason=self.failed_reason)
        summary.update(totals or {})
        path = osp.join(runner.work_dir, self.out_file)
        with open(path + '.tmp', 'w') as f:
            json.dump(summary, f, indent=1)
        os.replace(path + '.tmp', path)

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        totals = None
        if self.tracker is not None:
            try:
                self.tracker.stop()
                data = getattr(self.tracker, 'final_emissions_data', None)
                if data is None:
                    raise RuntimeError('codecarbon returned no final data')
                totals = self._with_offset(data)
            except Exception as e:
                self._disable(e)
            self.tracker = None
        if totals is not None:
            self._final = totals
            self._log(runner, totals)
        self._dump(runner, totals, finished=True)

    # -- checkpoint ---------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        totals = self.current_totals()
        if totals is not None:
            checkpoint.setdefault('hook_states', {})['EmissionsHook'] = dict(
                energy_kwh=totals['energy_kwh'], emissions_kg=totals['emissions_kg'],
                duration_s=totals['duration_s'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('hook_states', {}).get('EmissionsHook')
        if state is not None and getattr(runner, '_resume', False):
            self._offset = dict(state)
