import { admissionStoreContract } from './admission-store.contract.ts';
import { MemoryAdmissionStore } from './memory-admission-store.ts';

admissionStoreContract('MemoryAdmissionStore', async () => ({ store: new MemoryAdmissionStore(), close: async () => undefined }));
