import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { APIError } from './errors';

/** The REST namespace of the jupyter-mlops server extension. */
export const API_NAMESPACE = 'jupyter-mlops/api';

/**
 * Call the jupyter-mlops server extension.
 *
 * @param endPoint path below `{base_url}jupyter-mlops/api/`, with its query string
 * @param init the fetch options (method, body)
 * @param settings the server connection (defaults to the page's)
 * @returns the response body, parsed as JSON
 * @throws APIError with the server's message, or status 0 when the server is unreachable
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new APIError(
      0,
      `Cannot reach the Jupyter server (${(error as Error).message ?? error}).`
    );
  }
  const text = await response.text();
  let data: any = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const fromAPI = !!data && typeof data.message === 'string';
    const message = fromAPI
      ? data.message
      : `${response.status} ${response.statusText || 'error'} for ${endPoint}`;
    throw new APIError(response.status, message, fromAPI);
  }
  return data as T;
}
