// API types the published models lack, transcribed from their CRDs for the type-check.

// The Secrets Store CSI driver's SecretProviderClass, secrets-store.csi.x-k8s.io/v1
// (config/crd/bases/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml in
// kubernetes-sigs/secrets-store-csi-driver).
export interface ISecretProviderClass {
  apiVersion: "secrets-store.csi.x-k8s.io/v1";
  kind: "SecretProviderClass";
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: {
    provider: string;
    parameters?: Record<string, string>;
    secretObjects?: Array<{
      secretName: string;
      type: string;
      data?: Array<{ objectName: string; key: string }>;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }>;
  };
}
