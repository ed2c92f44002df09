"""Start the simulated Proxmox VE API for hlprov's tests: fakepve (PyPI, AGPL-3.0-or-later; imported here,
installed by .ci/setup, never copied into hlprov) with what its command line cannot set.

Run by tests/pve_sim/mod.rs as `python3 launch.py` with a JSON setup on the first line of stdin (secrets never go
on the command line): password, tokens, nodes, seeded guests, templates, appliances, time_scale. It prints one
JSON line, {"url", "port", "cafile", "fingerprint"}, once it listens on 127.0.0.1 (a free port), then answers
JSON commands, one per stdin line, so a test can read and change the simulated state without hlprov's client:
  {"cmd": "state"}                          guests (config, pending, status, lock), templates, requests made
  {"cmd": "set", "vmid": N, "config": {..}, "status": "running"}   change a guest behind hlprov's back
It exits when stdin closes (the test ended).

What this adds to fakepve, and what each addition is based on:
- API tokens and an ACL (`pve.acl = {}`): turns on fakepve's copy of pve-container's root@pam-only rules
  (src/PVE/LXC.pm check_ct_modify_config_perm); with fakepve's default "no ACL" a token could set devN.
- GET/POST /nodes/{node}/aplinfo: fakepve's generic route stores nothing. Here the index lists the configured
  appliances, and a download of one stores it on the storage in a task of type `download`; an unknown one is
  refused "no such template" (pve-manager PVE/API2/Nodes.pm, aplinfo: Datastore.AllocateTemplate on the
  storage, the name must be in the downloaded index; as read in the source, not run on a node).
"""

import asyncio
import hashlib
import json
import shutil
import sys
import tempfile

from fakepve import FakePve
from fakepve.certs import make_cert
from fakepve.model import PveError


class SimulatedPve(FakePve):
    appliances = ()

    def _routes_aplinfo(self):
        return [('GET', '/nodes/{node}/aplinfo', self._apl_list), ('POST', '/nodes/{node}/aplinfo', self._apl_download)]

    async def _apl_list(self, v, user):
        return [{'template': name, 'type': 'lxc', 'section': 'system', 'package': name.split('_')[0],
                 'version': name.split('_')[1] if '_' in name else '1', 'os': name.split('-standard')[0],
                 'headline': name, 'infopage': 'https://example.invalid/' + name} for name in self.appliances]

    async def _apl_download(self, v, user):
        storage, template = v['storage'], v['template']
        self.require(user, '/storage/' + storage, 'Datastore.AllocateTemplate')
        if template not in self.appliances:
            raise PveError(400, 'Parameter verification failed.', {'template': 'no such template'})
        if storage not in self.storages:
            raise PveError(500, "storage '{0}' does not exist".format(storage))

        async def body():
            await self.pause(2)
            self.store_file(storage, template, 123456789, content='vztmpl')
        return await self.task(v['node'], 'download', storage, user, body,
                               log=['starting template download of {0}'.format(template)])


def state(pve):
    cts = [{'vmid': ct.vmid, 'node': ct.node, 'name': ct.name, 'status': ct.status, 'config': ct.config,
            'pending': ct.pending, 'lock': ct.lock} for ct in pve.cts]
    vms = [{'vmid': vm.vmid, 'node': vm.node, 'name': vm.name, 'status': vm.status} for vm in pve.vms]
    volumes = dict((name, sorted(s.get('volumes', {}))) for name, s in pve.storages.items())
    requests = [[m, p] for m, p, _ in pve.requests]
    tasks = [{'upid': t['upid'], 'type': t['type'], 'status': t['status'], 'exitstatus': t.get('exitstatus')}
             for t in pve.tasklog]
    return {'cts': cts, 'vms': vms, 'volumes': volumes, 'requests': requests, 'tasks': tasks}


async def serve_commands(pve):
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        cmd = json.loads(line)
        if cmd['cmd'] == 'state':
            out = state(pve)
        elif cmd['cmd'] == 'set':
            ct = pve.ct(cmd['vmid'])
            ct.config.update(cmd.get('config', {}))
            if cmd.get('status'):
                ct.status = cmd['status']
            out = {'ok': True}
        else:
            out = {'error': 'unknown command ' + cmd['cmd']}
        print(json.dumps(out, default=list), flush=True)


async def main():
    setup = json.loads(sys.stdin.readline())
    directory = tempfile.mkdtemp(prefix='hlprov-pve-sim-')
    cert, key, der = make_cert(directory, hosts=('127.0.0.1',))
    pve = SimulatedPve(user='root@pam', password=setup['password'], host='127.0.0.1', port=0)
    pve.time_scale = float(setup.get('time_scale', 0))
    pve.appliances = tuple(setup.get('appliances', ()))
    for tokenid, secret in setup.get('tokens', {}).items():
        pve.apitokens[tokenid] = secret
    if setup.get('acl', True):
        pve.acl = {}
    for node in setup.get('nodes', []):
        pve.add_node(node)
    for t in setup.get('templates', []):
        pve.store_file(t.get('storage', 'local'), t['name'], t.get('size', 123456789), content='vztmpl')
    for g in setup.get('cts', []):
        ct = pve.add_ct(g['vmid'], g.get('hostname'), node=g.get('node', 'pve1'), status=g.get('status', 'stopped'),
                        config=g.get('config'))
        # PVE seconds the start and shutdown tasks take, and an error the start ends with (fakepve's knobs).
        ct.start_secs = g.get('start_secs', 0)
        ct.shutdown_secs = g.get('shutdown_secs', 0)
        ct.start_error = g.get('start_error')
    for g in setup.get('vms', []):
        pve.add_vm(g['vmid'], g['name'], node=g.get('node', 'pve1'), status=g.get('status', 'stopped'))
    await pve.start(cert, key)
    fingerprint = ':'.join('{0:02X}'.format(b) for b in hashlib.sha256(der).digest())
    print(json.dumps({'url': pve.url, 'port': pve.port, 'cafile': cert, 'fingerprint': fingerprint}), flush=True)
    try:
        await serve_commands(pve)
    finally:
        await pve.stop()
        shutil.rmtree(directory, ignore_errors=True)


asyncio.run(main())
