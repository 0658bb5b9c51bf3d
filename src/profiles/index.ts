import type { ProfileName } from '../spec/types.js';
import { freenetProfile } from './freenet.js';
import { genericProfile } from './generic.js';
import type { Profile } from './types.js';

export function profileFor(name: ProfileName): Profile {
  switch (name) {
    case 'freenet':
      return freenetProfile();
    case 'generic':
      return genericProfile();
  }
}
