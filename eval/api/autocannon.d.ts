declare module 'autocannon' {
  const autocannon: (opts: Record<string, unknown>) => Promise<any> & { stop?: () => void };
  export default autocannon;
}
