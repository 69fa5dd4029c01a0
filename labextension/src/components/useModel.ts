import { useSyncExternalStore } from 'react';

import { MLOpsModel } from '../model';

/** Re-render the calling component whenever the model changes. */
export function useModel(model: MLOpsModel): number {
  return useSyncExternalStore(
    listener => model.subscribe(listener),
    () => model.version
  );
}
