/** One bundle for both stages, as the runner calls it twice: main, then post (post-if: always()). */
import * as core from '@actions/core';
import { runMain } from './main.js';
import { runPost } from './post.js';
import { state } from './state.js';

async function run(): Promise<void> {
  const stage = state.isPost() ? 'post' : 'main';
  try {
    await (stage === 'post' ? runPost() : runMain());
  } catch (error) {
    core.setFailed(`nat-net ${stage}: ${(error as Error).message}`);
  }
}

await run();
