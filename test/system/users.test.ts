// This host's users by number, and a program run as one of them: by name through runuser, a uid
// with no name through setpriv, root's own as it is.
import { execa } from 'execa';
import t from 'tap';
import { asUser, userName } from '../../src/system/users.ts';
import { lane } from '../helpers/lanes.ts';

t.test('userName(): the name of a uid, or null when it has none', async (t) => {
  t.equal(userName(0), 'root');
  t.equal(userName(65534), 'nobody');
  t.equal(userName(4242), null, 'a uid with no name');
});

t.test('asUser(): a program run as another user, by name or by number', async (t) => {
  if (!lane(t, 'users', { root: true, tools: ['runuser', 'setpriv', 'id'] })) return;
  const run = async (user: string, gid?: number) => {
    const as = asUser(user, 'id', [], gid);
    return (await execa(as.program, as.args)).stdout;
  };
  t.match(await run('nobody'), /^uid=65534\(nobody\) gid=65534\(nogroup\)/, 'nobody, through runuser');
  t.equal(await run('4242', 4343), 'uid=4242 gid=4343 groups=4343', 'a uid with no name, its group, no other');
  t.equal(await run('4242'), 'uid=4242 gid=4242 groups=4242', 'its own number as group when none is given');
  t.same(asUser('root', 'id', ['-u']), { program: 'id', args: ['-u'] }, 'root: as it is');
});
